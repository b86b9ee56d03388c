// The notebook language as Jupyter describes it: one definition for the kernel's
// kernel_info_reply and for the notebooks the headless runner writes.
import { ts } from './tslab-env.js';

export function languageInfo(): { name: string; version: string; [k: string]: string } {
  return {
    name: 'typescript',
    version: ts.version,
    mimetype: 'text/typescript',
    file_extension: '.ts',
    pygments_lexer: 'typescript',
    codemirror_mode: 'typescript',
  };
}
