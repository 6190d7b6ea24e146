/**
 * Test instrumentation the loopback key-service servers share: an observer hears each request as it
 * arrives and each answer as it is sent, in one order across all servers that share it, and may hold
 * a request (the server answers once `arrived`'s promise settles). With it a test can check how a
 * client spreads its calls (how many, which overlap) without measuring time.
 */

export interface Observer {
  /**
   * A request arrived at `service` ('aws', 'vault', 'gcp', 'azure'); `what` names the operation
   * (`Decrypt`, `PUT /v1/transit/decrypt/k`, …). The server goes on once the returned promise settles.
   */
  arrived(service: string, what: string): void | Promise<void>;
  /** The answer to that request was handed to the network. */
  answered(service: string, what: string): void;
}

export interface ObservedEvent {
  service: string;
  what: string;
  phase: 'arrived' | 'answered';
}

/**
 * An observer that logs every event in order and holds requests matching `hold` until `release()`
 * (or until `count` of them arrived, when given; or after `fallbackMs`, so a client that never sends
 * them all cannot hang the test).
 */
export function recordingObserver(): Observer & {
  events: ObservedEvent[];
  /** From now on hold requests whose `service:what` matches `pattern`, until `count` of them arrived. */
  holdUntil(pattern: RegExp, count: number, fallbackMs?: number): void;
  /** Answer every held request now and stop holding. */
  release(): void;
} {
  const events: ObservedEvent[] = [];
  let hold:
    { pattern: RegExp; count: number; seen: number; waiters: Array<() => void>; timer: NodeJS.Timeout } | undefined;
  const release = () => {
    const h = hold;
    hold = undefined;
    if (!h) return;
    clearTimeout(h.timer);
    for (const w of h.waiters) w();
  };
  return {
    events,
    arrived(service, what) {
      events.push({ service, what, phase: 'arrived' });
      const h = hold;
      if (!h || !h.pattern.test(`${service}:${what}`)) return;
      h.seen++;
      const p = new Promise<void>((resolve) => h.waiters.push(resolve));
      if (h.seen >= h.count) release();
      return p;
    },
    answered(service, what) {
      events.push({ service, what, phase: 'answered' });
    },
    holdUntil(pattern, count, fallbackMs = 5_000) {
      release();
      const timer = setTimeout(release, fallbackMs);
      timer.unref();
      hold = { pattern, count, seen: 0, waiters: [], timer };
    },
    release,
  };
}
