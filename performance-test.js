// k6 load test with the original deployment's scenario: ramp to 50 virtual users, hold, ramp
// down; every iteration runs the seed request mix; thresholds on p95, p99 and the error rate.
//
//   k6 run -e BASE_URL=https://your-app.up.railway.app -e API_KEY=afk_... performance-test.js
//
// The runs go to the script's own scripted agent, `k6-support-bot` (the demo agent's answers):
// setup() registers it when the service does not have it yet, so a deploy without the demo seed
// works too (a key with the write scope is needed for that). `-e AGENT_ID=...` names an agent of
// yours instead, which must exist. API_KEY falls back to AIFACTORY_API_KEY.
//
// k6 is not installable on the machine this project is built on; loadtest/locustfile.py runs
// the same mix with locust (see bench/load.sh), and tests/e2e/test_deploy_k6.py runs setup() and
// an iteration under node, with stand-ins for k6's modules (tests/fakes/k6), against a server.

import http from 'k6/http';
import { check, group, sleep } from 'k6';
import { Rate } from 'k6/metrics';

const BASE_URL = (__ENV.BASE_URL || 'http://127.0.0.1:8000').replace(/\/+$/, '');
const API_KEY = __ENV.API_KEY || __ENV.AIFACTORY_API_KEY || '';
const OWN_AGENT_ID = 'k6-support-bot';
const AGENT_ID = __ENV.AGENT_ID || OWN_AGENT_ID;
const THINK_S = Number(__ENV.THINK_S || 1);

const seedErrors = new Rate('seed_errors');

export const options = {
  stages: [
    { duration: '30s', target: 10 },
    { duration: '1m', target: 50 },
    { duration: '2m', target: 50 },
    { duration: '30s', target: 0 },
  ],
  thresholds: {
    // The original's targets: p95 under 800 ms, p99 under 2 s, fewer than 0.5% errors.
    http_req_duration: ['p(95)<800', 'p(99)<2000'],
    http_req_failed: ['rate<0.005'],
    seed_errors: ['rate<0.005'],
  },
};

const CASES = [
  { name: 'refund', input: 'Can I get a refund after 40 days?', checks: [{ type: 'contains', value: '30 days' }] },
  { name: 'password', input: 'I forgot my password', checks: [{ type: 'icontains', value: 'reset' }] },
  { name: 'order', input: 'Where is order #1234?', checks: [{ type: 'json_valid' }] },
  { name: 'off topic', input: "What's the weather tomorrow?", checks: [{ type: 'regex', pattern: 'only help' }] },
  { name: 'refund words', input: 'How long is the refund window?', checks: [{ type: 'contains', value: '30 days' }] },
];

// The demo agent's scripted answers (src/aifactory/demo.py), under the script's own id.
const OWN_AGENT = {
  id: OWN_AGENT_ID,
  name: 'k6 load test agent (scripted)',
  kind: 'scripted',
  config: {
    responses: [
      { match: 'refund', output: 'Refunds are possible within 30 days of purchase.' },
      {
        match: 'password',
        output: "To reset your password, open Settings > Security and choose 'Reset password'.",
      },
      { match: 'order\\s+#?\\d+', regex: true, output: '{"order_status": "shipped", "eta_days": 2}' },
    ],
    default: "I'm sorry, I can only help with refunds, passwords and orders.",
    latency_ms: 20,
  },
  max_concurrency: 8,
};

const authHeaders = {
  headers: { Authorization: `Bearer ${API_KEY}`, 'Content-Type': 'application/json' },
};

function ok(response, status, name) {
  const passed = check(response, { [`${name}: HTTP ${status}`]: (r) => r.status === status });
  seedErrors.add(!passed);
  return passed;
}

function keyProblem(response, what) {
  if (response.status === 401) {
    return `${what} answered 401; pass a valid key: -e API_KEY=afk_...`;
  }
  if (response.status === 403) {
    return `${what} answered 403; the key needs the write scope to register ${OWN_AGENT_ID}.`;
  }
  return null;
}

// Makes sure the agent exists: the script's own is registered when missing. Idempotent, and
// safe when several runs start at once: a 409 means another one registered it first.
export function setup() {
  const health = http.get(`${BASE_URL}/health`);
  if (health.status !== 200) {
    throw new Error(`${BASE_URL}/health answered ${health.status}; is the service up?`);
  }
  const agentUrl = `${BASE_URL}/api/v1/agents/${AGENT_ID}`;
  const agent = http.get(agentUrl, authHeaders);
  const problem = keyProblem(agent, `GET ${agentUrl}`);
  if (problem) {
    throw new Error(problem);
  }
  if (agent.status === 200) {
    return;
  }
  if (agent.status !== 404) {
    throw new Error(`GET ${agentUrl} answered ${agent.status}: ${agent.body}`);
  }
  if (AGENT_ID !== OWN_AGENT_ID) {
    throw new Error(
      `Agent ${AGENT_ID} does not exist; register it, or leave AGENT_ID unset to use the script's own agent.`,
    );
  }
  const created = http.post(`${BASE_URL}/api/v1/agents`, JSON.stringify(OWN_AGENT), authHeaders);
  const refused = keyProblem(created, `POST ${BASE_URL}/api/v1/agents`);
  if (refused) {
    throw new Error(refused);
  }
  if (created.status !== 201 && created.status !== 409) {
    throw new Error(`Registering ${OWN_AGENT_ID} answered ${created.status}: ${created.body}`);
  }
  const registered = http.get(agentUrl, authHeaders);
  if (registered.status !== 200) {
    // A 409 with no agent to read: a deleted agent keeps its id.
    throw new Error(
      `Agent ${OWN_AGENT_ID} cannot be registered (HTTP ${created.status}, then ${registered.status}); ` +
        'pass -e AGENT_ID=<an existing agent>.',
    );
  }
}

export default function () {
  group('health', () => {
    ok(http.get(`${BASE_URL}/health`, { tags: { name: 'GET /health' } }), 200, 'health');
    ok(http.get(`${BASE_URL}/ping`, { tags: { name: 'GET /ping' } }), 200, 'ping');
  });

  group('single run', () => {
    const testCase = CASES[Math.floor(Math.random() * CASES.length)];
    const body = JSON.stringify({ agent_id: AGENT_ID, test_case: testCase });
    const run = http.post(`${BASE_URL}/api/v1/test/run`, body, {
      ...authHeaders,
      tags: { name: 'POST /api/v1/test/run' },
    });
    if (ok(run, 200, 'run')) {
      check(run, { 'run: a result with a score': (r) => typeof r.json('score') === 'number' });
    }
  });

  group('batch', () => {
    const body = JSON.stringify({ agent_id: AGENT_ID, test_cases: CASES.concat(CASES), name: 'k6 batch' });
    const batch = http.post(`${BASE_URL}/api/v1/test/batch`, body, {
      ...authHeaders,
      tags: { name: 'POST /api/v1/test/batch' },
    });
    if (ok(batch, 202, 'batch')) {
      const status = http.get(`${BASE_URL}/api/v1/test/status/${batch.json('run_id')}`, {
        ...authHeaders,
        tags: { name: 'GET /api/v1/test/status/{id}' },
      });
      ok(status, 200, 'status');
    }
  });

  group('history and metrics', () => {
    ok(
      http.get(`${BASE_URL}/api/v1/agents/${AGENT_ID}/results`, {
        ...authHeaders,
        tags: { name: 'GET /api/v1/agents/{id}/results' },
      }),
      200,
      'results',
    );
    ok(
      http.get(`${BASE_URL}/api/v1/metrics`, { ...authHeaders, tags: { name: 'GET /api/v1/metrics' } }),
      200,
      'metrics',
    );
  });

  sleep(THINK_S);
}
