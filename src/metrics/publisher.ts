/**
 * A publisher's metrics, from its public events: `batch` (events applied), `resync`, `parked`,
 * `error`, and `lease` (the gauge of partition leases held). Nothing inside the publisher calls the recorder.
 */
import type { Publisher } from '../publisher/index.js';
import type { MetricsRecorder } from './recorder.js';

/** Records `publisher`'s events into `metrics` until the returned function is called (nothing with metrics off). */
export function recordPublisher(metrics: MetricsRecorder, publisher: Publisher): () => void {
  if (!metrics.enabled) return () => undefined;
  const held = new Map<string, number>(publisher.options.queues.map((queue) => [queue, 0]));
  const onBatch = ({ queue, byEvent }: { queue: string; byEvent: Record<string, number> }): void => {
    for (const [event, count] of Object.entries(byEvent)) metrics.publisherEvents(queue, event, count);
  };
  const onResync = ({ queue }: { queue: string }): void => metrics.publisherResync(queue);
  const onParked = ({ queue }: { queue: string }): void => metrics.publisherParked(queue);
  const onError = (_error: Error, { queue }: { queue: string }): void => metrics.publisherError(queue);
  const onLease = ({ queue, partitions }: { queue: string; partitions: readonly number[] }): void =>
    void held.set(queue, partitions.length);
  publisher.on('batch', onBatch);
  publisher.on('resync', onResync);
  publisher.on('parked', onParked);
  publisher.on('error', onError);
  publisher.on('lease', onLease);
  const unwatch = [...held.keys()].map((queue) => metrics.watchPublisherLeases(queue, () => held.get(queue) ?? 0));
  return () => {
    for (const stop of unwatch) stop();
    publisher.off('batch', onBatch);
    publisher.off('resync', onResync);
    publisher.off('parked', onParked);
    publisher.off('error', onError);
    publisher.off('lease', onLease);
  };
}
