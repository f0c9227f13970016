#!/usr/bin/env node
// `npm run docs:config`: writes docs/configuration.md from the configuration schema (built into
// dist/ first by the npm script). Run it after adding or changing a configuration key.
import { writeFileSync } from 'node:fs';
import { keysWithoutDescription, renderConfigurationReference } from '../dist/config/reference.js';

const undescribed = keysWithoutDescription();
if (undescribed.length > 0) {
  console.error(`give these keys a .describe() in src/config/schema.ts first: ${undescribed.join(', ')}`);
  process.exit(1);
}
writeFileSync(new URL('../docs/configuration.md', import.meta.url), renderConfigurationReference());
console.log('wrote docs/configuration.md');
