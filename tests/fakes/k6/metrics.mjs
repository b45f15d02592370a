// k6's `k6/metrics` for node, in tests: a Rate that only counts.
export class Rate {
  constructor(name) {
    this.name = name;
    this.values = [];
  }

  add(value) {
    this.values.push(Boolean(value));
  }
}
