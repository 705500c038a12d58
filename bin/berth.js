#!/usr/bin/env node
// The `berth` command: a thin launcher for the compiled CLI (npm run build makes dist/).
import('../dist/cli/main.js').catch((err) => {
  if (err && err.code === 'ERR_MODULE_NOT_FOUND' && String(err.message).includes('dist/cli/main.js')) {
    console.error('berth: not built yet; run `npm run build` first');
    process.exit(2);
  }
  throw err;
});
