/**
 * A Katello sync of a big organisation: every repository, and every user's readable list, pushed
 * form-encoded as rest-client sends them (hundreds of thousands of entries, tens of megabytes).
 * While such a push is read and written, the gateway keeps answering: /healthz and a pull do not
 * wait for it. (A generous bound on the answer, not a benchmark: before bodies were read in
 * slices, one push held the event loop for over a second.)
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { encodeRestClientForm } from '../fake-katello/rest-client-form.js';
import { MANAGEMENT_TOKEN, startGateway, type RunningGateway } from '../support/gateway.js';
import { httpRequest } from './harness/http-client.js';

const REPOSITORIES = Array.from({ length: 20_000 }, (_, index) => ({ repository: `org-${index % 40}/product-${index}/content`, auth_required: index % 4 !== 0 }));
const USERS = Array.from({ length: 60 }, (_, user) => ({ [`user${user}`]: REPOSITORIES.slice(0, 5_000) }));

describe('a big sync push does not stop the gateway answering', () => {
  let dir: string;
  let gateway: RunningGateway;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'cg-big-push-'));
    gateway = await startGateway({ backendUrl: 'http://127.0.0.1:1', dataDir: dir });
  });
  after(async () => {
    await gateway?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const push = async (route: string, payload: Parameters<typeof encodeRestClientForm>[0]) => {
    const response = await httpRequest(`${gateway.url}/container_gateway/${route}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${MANAGEMENT_TOKEN}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: encodeRestClientForm(payload),
      timeoutMs: 120_000,
    });
    assert.equal(response.status, 200, response.body.toString().slice(0, 500));
    return JSON.parse(response.body.toString()) as Record<string, number>;
  };

  /** The slowest /healthz answer while `work` runs. */
  const slowestHealthWhile = async (work: Promise<unknown>): Promise<number> => {
    let running = true;
    let slowest = 0;
    const probing = (async () => {
      while (running) {
        const started = performance.now();
        assert.equal((await httpRequest(`${gateway.url}/healthz`)).status, 200);
        slowest = Math.max(slowest, performance.now() - started);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    })();
    await work;
    running = false;
    await probing;
    return slowest;
  };

  it('takes 20,000 repositories and 300,000 user mappings while /healthz keeps answering', async () => {
    const listed = slowestHealthWhile(push('repository_list', { repositories: REPOSITORIES }));
    assert.ok((await listed) < 750, `healthz waited ${String(await listed)} ms during the repository list`);
    let counts: Record<string, number> = {};
    const slowest = await slowestHealthWhile(push('user_repository_mapping', { users: USERS }).then((answer) => (counts = answer)));
    assert.equal(counts.mappings, 60 * REPOSITORIES.slice(0, 5_000).filter((entry) => entry.auth_required).length + 0);
    assert.ok(slowest < 750, `healthz waited ${slowest.toFixed(0)} ms during the user mappings`);
  });
});
