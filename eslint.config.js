// Type-aware lint. Module boundaries: scheduler/ and store/ stay pure of the edge, the agent and the CLI.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const boundary = (from, banned) => ({
  files: [`src/${from}/**/*.ts`],
  rules: {
    'no-restricted-imports': ['error', {
      patterns: banned.map((m) => ({ group: [`**/${m}`, `**/${m}/**`], message: `${from}/ must not import ${m}/` })),
    }],
  },
});

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'bin/**', 'eslint.config.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/switch-exhaustiveness-check': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/only-throw-error': 'off',
    },
  },
  { files: ['**/*.test.ts', 'test/**/*.ts', 'bench/**/*'], rules: {
    '@typescript-eslint/no-unsafe-member-access': 'off', '@typescript-eslint/no-unsafe-assignment': 'off',
    '@typescript-eslint/no-unsafe-call': 'off', '@typescript-eslint/no-unsafe-argument': 'off',
    '@typescript-eslint/no-non-null-assertion': 'off', '@typescript-eslint/no-unsafe-return': 'off',
    '@typescript-eslint/no-explicit-any': 'off' } },
  boundary('scheduler', ['edge', 'agent', 'cli', 'store']),
  boundary('store', ['edge', 'agent', 'cli', 'ecs', 'scheduler', 'controllers']),
  boundary('ecs', ['edge', 'agent', 'cli']),
  boundary('protocols', ['edge', 'agent', 'cli', 'ecs', 'store']),
);
