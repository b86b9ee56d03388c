// util: validation with errors that name field and value, the package's paths.
export { ConfigError } from './schema.js';
export { packageRoot, projectFile, notebookStorePath } from './paths.js';
