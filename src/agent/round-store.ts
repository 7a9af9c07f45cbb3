// The agent's incarnation number ("round"), persisted so each start gets a new one: flow
// cookies carry it, so flows written by this incarnation are told apart from older ones.
import { migrate, type Database } from '../lib/sqlite.js';

const migrations = ['CREATE TABLE agent_round (id INTEGER PRIMARY KEY CHECK (id = 1), round INTEGER NOT NULL)'];

/** 16 bits in the cookie; 0 is left to flows written by hand. */
const MAX_ROUND = 0xffff;

export async function nextRound(db: Database): Promise<number> {
  await migrate(db, 'agent-round', migrations);
  return db.transaction(async (tx) => {
    const row = await tx.get<{ round: number }>('SELECT round FROM agent_round WHERE id = 1');
    const round = row ? (row.round % MAX_ROUND) + 1 : 1;
    await tx.run('INSERT INTO agent_round (id, round) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET round = excluded.round', [round]);
    return round;
  });
}
