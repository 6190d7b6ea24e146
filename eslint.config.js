// ESLint flat config: @eslint/js recommended + typescript-eslint strictTypeChecked for src/, test/
// and bench/ (type-aware, through tsconfig.json), plain recommended for the JavaScript of scripts/ and
// bin/. Formatting is Prettier's job (.prettierrc.json), so no stylistic rules here. Every rule
// switched off or loosened below says why.
import js from '@eslint/js';
import { defineConfig } from 'eslint/config';
import tseslint from 'typescript-eslint';

export default defineConfig(
  { ignores: ['dist/**', 'node_modules/**', 'fixtures/**'] },
  // an `eslint-disable` comment that no longer silences anything is an error (it would hide the next finding)
  { linterOptions: { reportUnusedDisableDirectives: 'error' } },
  {
    files: ['**/*.ts'],
    extends: [js.configs.recommended, ...tseslint.configs.strictTypeChecked],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // With noUncheckedIndexedAccess on, `x[i]!` is how the code states an index it has already
      // checked (a loop bound, a regex group that always matches, a key from Object.keys); the
      // compiler cannot see those facts, and rewriting each as a runtime check would add branches
      // that can never run.
      '@typescript-eslint/no-non-null-assertion': 'off',
      // A leading underscore marks a parameter or binding kept on purpose (an interface's signature,
      // a destructured field dropped from a copy), as TypeScript's noUnusedParameters reads it.
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', ignoreRestSiblings: true },
      ],
      // Numbers and booleans print the same in every template (only objects and undefined are bugs);
      // `${where}` in src/config/ prints a position in .sops.yaml through Where.toString() on purpose.
      '@typescript-eslint/restrict-template-expressions': [
        'error',
        {
          allowNumber: true,
          allowBoolean: true,
          allow: [
            { from: 'lib', name: ['Error', 'URL', 'URLSearchParams'] },
            { from: 'file', name: 'Where' },
          ],
        },
      ],
      // `() => f()` arrow shorthands, and `return f();` inside a function that itself returns void
      // (the early-exit idiom of t.skip(), resolve(), send() and the emitter's state dispatch), say
      // "do this and stop"; no value is being used.
      '@typescript-eslint/no-confusing-void-expression': [
        'error',
        { ignoreArrowShorthand: true, ignoreVoidReturningFunctions: true },
      ],
    },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      // Tests read JSON.parse/YAML.parse output (typed `any`), or reach into a document with `as any`,
      // and assert on it at once: a wrong shape fails the assertion itself, so typing every parsed
      // document would add nothing.
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      // after() closes with `?.` what before() may not have started (when before() failed); a `let`
      // assigned in a hook cannot be typed as "maybe unset" without a `!` at every use.
      '@typescript-eslint/no-unnecessary-condition': 'off',
      // node:test's test()/describe() return promises the runner itself awaits.
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['test', 'it', 'describe', 'suite'] },
          ],
        },
      ],
    },
  },
  {
    files: ['scripts/**/*.mjs', 'bin/tsops'],
    extends: [js.configs.recommended],
    // the Node globals these scripts use (no `globals` package for four names)
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly', Buffer: 'readonly' } },
  },
);
