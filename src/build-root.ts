// Where this build of Weft is: the directory holding this module (dist/ when built, src/ when run from the
// sources). Modules find the files that sit beside them (the codec worker script, the native addon) from here, not
// from their own location, so that they resolve the same inside the filter's one-file bundle, dist/filter.bundle.js,
// which lives in this same directory (scripts/build-filter.mjs).

/** The URL of the build's root directory (ends with '/'). */
export const BUILD_ROOT = new URL('./', import.meta.url);
