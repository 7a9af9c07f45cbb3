// Mocha's spec reporter plus one plain closing line ("N passed, N failed, N skipped")
// that CI tooling reads regardless of the test runner. "failed" counts the tests that failed,
// the tests that never ran because a hook of their suite failed, and failed after-hooks (which
// fail after their tests passed): a broken before() can no longer hide its suite's tests.
const Mocha = require('mocha');
const { EVENT_RUN_END, EVENT_TEST_FAIL } = Mocha.Runner.constants;

class SeineReporter extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    let failedTests = 0;
    let failedAfterHooks = 0;
    runner.on(EVENT_TEST_FAIL, (test) => {
      if (test.type !== 'hook') failedTests++;
      else if (/^"after (all|each)"/.test(test.title)) failedAfterHooks++;
    });
    runner.once(EVENT_RUN_END, () => {
      const s = runner.stats ?? {};
      const passed = s.passes ?? 0;
      const skipped = s.pending ?? 0;
      const neverRan = Math.max(0, (runner.total ?? 0) - passed - skipped - failedTests);
      process.stdout.write(`\n${passed} passed, ${failedTests + neverRan + failedAfterHooks} failed, ${skipped} skipped\n`);
    });
  }
}
module.exports = SeineReporter;
