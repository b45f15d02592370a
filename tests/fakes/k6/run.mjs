// Runs a k6 script under node with this directory's modules: `node run.mjs SCRIPT [iterations]`.
// The script's imports of k6 must already point here. __ENV comes from the K6_ENV variable (JSON).
// Prints {"error": setup's error or null, "requests": [...], "checks": [...]} as JSON.
globalThis.__ENV = JSON.parse(process.env.K6_ENV || '{}');
globalThis.__k6 = { requests: [], checks: [] };
const [script, iterations = '0'] = process.argv.slice(2);
const module = await import(script);
let error = null;
try {
  const data = module.setup ? module.setup() : undefined;
  for (let n = 0; n < Number(iterations); n += 1) {
    module.default(data);
  }
} catch (thrown) {
  error = thrown.message;
}
console.log(JSON.stringify({ error, ...globalThis.__k6 }));
