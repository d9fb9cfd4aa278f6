export { fromArray } from './from-array.js';
export type { ArrayEnumeration, FromArrayOptions } from './from-array.js';
export { nested } from './nested.js';
export type { NestedLevel, NestedOptions } from './nested.js';
export { inBatches } from './in-batches.js';
