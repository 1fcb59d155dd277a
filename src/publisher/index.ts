/** The publisher: BullMQ events → Seenn state. */
export { Publisher, type PublisherEvents } from './publisher.js';
export { PUBLISHER_DEFAULTS, type DescribeFn, type PublisherOptions } from './options.js';
