// ESLint 9 flat config: typescript-eslint (type-aware) for bugs, @stylistic for the layout the
// code already has. No Prettier: it would rewrite every file at once and make every branch
// conflict; these rules check the existing layout instead.
import js from '@eslint/js';
import stylistic from '@stylistic/eslint-plugin';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/dist/**', 'node_modules/**', 'out/**', 'test-output/**', '.lab/**', 'rootfs/**'] },
  js.configs.recommended,
  {
    files: ['**/*.ts'],
    extends: [tseslint.configs.recommendedTypeChecked],
    languageOptions: {
      // Two programs (test's covers src/, images/ and test/; nodes/ has its own), built once:
      // cheaper on 2 cores than one per tsconfig found by the project service.
      parserOptions: { project: ['./test/tsconfig.json', './nodes/tsconfig.json'], tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // `let x;` assigned later but read by a callback made before (the agent's sync) stays `let`.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // Parsed JSON, OVSDB replies and Node-RED's API are untyped by nature; the code checks them
      // with zod at the boundary and casts after, so the no-unsafe-* family only repeats that.
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      // `xs[i]!` is written on purpose (ready for noUncheckedIndexedAccess); the rule would strip it.
      '@typescript-eslint/no-unnecessary-type-assertion': 'off',
      // Methods implementing Promise-returning interfaces stay `async` so a throw is a rejection.
      '@typescript-eslint/require-await': 'off',
      // The code writes compact guarded statements: `if (c) (a(), b());` and `x && f()`.
      '@typescript-eslint/no-unused-expressions': 'off',
      // It flags String(unknown) that turns unvalidated input into text for error messages on purpose.
      '@typescript-eslint/no-base-to-string': 'off',
    },
  },
  {
    // Node-RED node constructors keep `const node = this` for the callbacks (Node-RED's idiom).
    files: ['nodes/**/*.ts'],
    rules: { '@typescript-eslint/no-this-alias': 'off' },
  },
  {
    // Tests reach into untyped internals (Node-RED's test helper, raw JSON replies).
    files: ['test/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs', globals: globals.node },
  },
  {
    files: ['**/*.mjs'],
    languageOptions: { sourceType: 'module', globals: globals.node },
  },
  {
    files: ['test/fixtures/**/*.cjs'],
    languageOptions: { globals: globals.mocha },
  },
  {
    plugins: { '@stylistic': stylistic },
    rules: {
      '@stylistic/quotes': ['error', 'single', { avoidEscape: true, allowTemplateLiterals: 'always' }],
      '@stylistic/semi': ['error', 'always'],
      // Multi-line ternaries are laid out by hand (chained ones aligned on `:`), so they are not checked.
      '@stylistic/indent': ['error', 2, { ignoredNodes: ['ConditionalExpression', 'ConditionalExpression *'] }],
      '@stylistic/comma-dangle': ['error', 'always-multiline'],
      '@stylistic/comma-spacing': 'error',
      '@stylistic/comma-style': 'error',
      '@stylistic/no-trailing-spaces': 'error',
      '@stylistic/eol-last': 'error',
      '@stylistic/no-tabs': 'error',
      '@stylistic/keyword-spacing': 'error',
      '@stylistic/space-before-blocks': 'error',
      '@stylistic/space-infix-ops': 'error',
      '@stylistic/key-spacing': 'error',
      '@stylistic/brace-style': ['error', '1tbs', { allowSingleLine: true }],
      '@stylistic/arrow-spacing': 'error',
      '@stylistic/no-multiple-empty-lines': ['error', { max: 1 }],
    },
  },
);
