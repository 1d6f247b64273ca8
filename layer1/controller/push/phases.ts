// Where a push's time goes (receive, build, slug, release, start, health check, route switch):
// each mark ends a phase that began at the previous one. Said at the end of every push and
// read by the deploy benchmark.
export class PhaseClock {
  private readonly t0 = Date.now();
  private last = this.t0;
  private readonly marks = new Map<string, number>();

  /** Ends the phase `name` now (a phase marked twice keeps its first end). */
  mark(name: string): void {
    if (this.marks.has(name)) return;
    const now = Date.now();
    this.marks.set(name, now - this.last);
    this.last = now;
  }

  has(name: string): boolean {
    return this.marks.has(name);
  }

  /** Phase → seconds, in the order they ended. */
  phases(): Record<string, number> {
    return Object.fromEntries([...this.marks].map(([k, ms]) => [k, Math.round(ms) / 1000]));
  }

  /** `Done in 12.3 s (receive 0.1 s, build 8.0 s, …)`. */
  describe(): string {
    const parts = [...this.marks].map(([k, ms]) => `${k} ${(ms / 1000).toFixed(1)} s`);
    return `Done in ${((this.last - this.t0) / 1000).toFixed(1)} s (${parts.join(', ')})`;
  }
}
