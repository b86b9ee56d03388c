// `dytlab kernel install | list | remove`: the Jupyter kernelspec for the dytlab kernel.
import { loadKernelModule } from './kernel-module.js';

interface KernelInstaller {
  kernelCommand(args: string[]): Promise<number>;
}

/** `dytlab kernel <install|list|remove> [options]`; returns the exit code. */
export async function kernelCommand(args: string[]): Promise<number> {
  return loadKernelModule<KernelInstaller>('install').kernelCommand(args);
}
