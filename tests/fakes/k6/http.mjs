// k6's `k6/http` for node, in tests: requests are synchronous, as k6's are. Each one is made by a
// child node process (global fetch) while this one waits for it. A request that gets no answer
// has status 0, as in k6. Every request is recorded in globalThis.__k6.requests.
import { execFileSync } from 'node:child_process';

const FETCH = `
const chunks = [];
process.stdin.on('data', (chunk) => chunks.push(chunk));
process.stdin.on('end', async () => {
  const { method, url, body, headers } = JSON.parse(Buffer.concat(chunks).toString());
  try {
    const response = await fetch(url, { method, body: body ?? undefined, headers });
    process.stdout.write(JSON.stringify({ status: response.status, body: await response.text() }));
  } catch (error) {
    process.stdout.write(JSON.stringify({ status: 0, body: String(error) }));
  }
});
`;

class Response {
  constructor({ status, body }) {
    this.status = status;
    this.body = body;
  }

  json(path) {
    const value = JSON.parse(this.body);
    return path ? path.split('.').reduce((found, key) => found?.[key], value) : value;
  }
}

function request(method, url, body, params = {}) {
  const sent = { method, url, body: body ?? null, headers: params.headers || {} };
  const output = execFileSync(process.execPath, ['-e', FETCH], { input: JSON.stringify(sent) });
  const response = new Response(JSON.parse(output.toString()));
  globalThis.__k6.requests.push({ method, url, status: response.status });
  return response;
}

export default {
  get: (url, params) => request('GET', url, null, params),
  del: (url, body, params) => request('DELETE', url, body, params),
  patch: (url, body, params) => request('PATCH', url, body, params),
  post: (url, body, params) => request('POST', url, body, params),
  put: (url, body, params) => request('PUT', url, body, params),
};
