// ESLint (flat config) for the web app and its tests: ESLint's recommended
// rules, eslint-plugin-react's for JSX under Preact's automatic runtime
// (class and for are Preact's attribute names, so no unknown-property rule),
// and the hooks rules (preact/hooks follows React's rules of hooks). Run by
// ctest web.lint (web/test/CMakeLists.txt) and `npm run lint`; formatting is
// Prettier's (.prettierrc, ctest web.format), so no style rules here.
import js from '@eslint/js';
import react from 'eslint-plugin-react';
import reactHooks from 'eslint-plugin-react-hooks';
import globals from 'globals';

export default [
  { ignores: ['dist/**', 'dist-test/**', 'node_modules/**'] },
  js.configs.recommended,
  {
    files: ['src/**/*.{js,jsx}'],
    ...react.configs.flat.recommended,
    ...react.configs.flat['jsx-runtime'],
    plugins: { react, 'react-hooks': reactHooks },
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: 'module',
      parserOptions: { ecmaFeatures: { jsx: true } },
      globals: { ...globals.browser },
    },
    settings: { react: { version: '18.3', pragma: 'h', fragment: 'Fragment' } },
    rules: {
      ...react.configs.flat.recommended.rules,
      ...react.configs.flat['jsx-runtime'].rules,
      ...reactHooks.configs.recommended.rules,
      // Preact takes `class`, `for` and lowercase event names as written.
      'react/no-unknown-property': 'off',
      // Props are documented in each component's comment, not by PropTypes.
      'react/prop-types': 'off',
      // Catalog text may hold quotes and apostrophes.
      'react/no-unescaped-entities': 'off',
      'no-unused-vars': [
        'error',
        { args: 'after-used', argsIgnorePattern: '^_', caughtErrors: 'none', ignoreRestSiblings: true },
      ],
    },
  },
  {
    files: ['test/**/*.mjs', 'scripts/**/*.mjs', '*.js'],
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: 'module',
      globals: { ...globals.node },
    },
    rules: {
      'no-unused-vars': [
        'error',
        { args: 'after-used', argsIgnorePattern: '^_', caughtErrors: 'none', ignoreRestSiblings: true },
      ],
    },
  },
  {
    // What the tests run inside the page (page.evaluate) sees the browser.
    files: ['test/**/*.mjs'],
    languageOptions: { globals: { ...globals.browser, ...globals.node } },
  },
];
