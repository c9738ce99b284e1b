/**
 * hash-wasm's single-algorithm bundle for XXH3-128 (its README: "import only
 * the needed algorithm"). The package's main bundle carries every algorithm
 * it has and costs a CLI command about 0.1 s to load; this one, a few ms. It
 * is a UMD file, so Node gives it to an ES module as a default export.
 */
declare module 'hash-wasm/dist/xxhash128.umd.min.js' {
  import type { createXXHash128 } from 'hash-wasm';

  const bundle: { readonly createXXHash128: typeof createXXHash128 };
  export default bundle;
}
