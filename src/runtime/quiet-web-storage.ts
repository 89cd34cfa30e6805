/**
 * Node 25 and later define a global `localStorage` that, without --localstorage-file, is
 * undefined and prints an ExperimentalWarning when read. GramJS's session store (store2) reads it
 * as it loads, so every process and worker thread that imports GramJS would print that warning.
 * Where the getter can only answer undefined, a plain undefined takes its place: it reads the
 * same and prints nothing. Imported first by each entry point, before anything loads GramJS.
 */
const descriptor = Object.getOwnPropertyDescriptor(globalThis, 'localStorage');
const storageFileGiven = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)].some((arg) => arg.startsWith('--localstorage-file'));
if (descriptor?.get !== undefined && descriptor.configurable === true && !storageFileGiven) {
  Object.defineProperty(globalThis, 'localStorage', { value: undefined, writable: true, configurable: true, enumerable: descriptor.enumerable ?? false });
}

export {};
