// kill -9 of a process writing flow batches: the store stays consistent (PRAGMA
// integrity_check) and holds every batch the writer saw committed, plus at most the one in
// flight — never part of a batch.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { FlowStore } from '../../src/agent/flows/store.js';

const BATCH = 500;

describe('flow store: kill -9 during ingest', function () {
  this.timeout(60_000);
  let dir = '';
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'seine-flowcrash-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  for (const round of [1, 2, 3]) {
    it(`round ${round}: intact, nothing acknowledged lost, at most one batch more`, async () => {
      const file = path.join(dir, `flows-${round}.db`);
      const child = spawn(process.execPath, ['--import', 'tsx', path.join(import.meta.dirname, 'fixtures/flow-writer.ts'), file, String(BATCH)], { stdio: ['ignore', 'pipe', 'inherit'] });
      let acked = 0;
      const target = 5 + round * 3; // kill at a different point each round
      await new Promise<void>((resolve, reject) => {
        child.on('error', reject);
        child.on('close', (code, signal) => (signal === 'SIGKILL' ? resolve() : reject(new Error(`writer exited ${code ?? signal}`))));
        createInterface({ input: child.stdout! }).on('line', (l) => {
          const m = /^committed (\d+)$/.exec(l);
          if (!m) return;
          acked = Number(m[1]);
          if (acked === target) setTimeout(() => child.kill('SIGKILL'), 7 * round); // mid-way through the next batch
        });
      });
      const s = await FlowStore.open(file);
      try {
        assert.equal(await s.integrityCheck(), 'ok');
        const rows = (await s.db.get<{ n: number }>('SELECT COUNT(*) AS n FROM flow_records'))!.n;
        assert.equal(rows % BATCH, 0, `a partial batch is in the database (${rows} rows)`);
        const batches = rows / BATCH;
        assert.ok(batches >= acked, `acknowledged batches lost: ${batches} in the database, ${acked} acknowledged`);
        assert.ok(batches <= acked + 1, `${batches} batches in the database, ${acked} acknowledged: more than the one in flight`);
      } finally {
        await s.close();
      }
    });
  }
});
