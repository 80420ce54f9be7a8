const hidden = '***'

/** A value that must never reach a log, a trace, a response or generated YAML in plain text. */
export class Secret {
  readonly #value: string

  constructor(value: string) {
    this.#value = value
  }

  /** The plain value, for the one place that needs it (a driver or transport option). */
  reveal(): string {
    return this.#value
  }

  get isEmpty(): boolean {
    return this.#value.length === 0
  }

  toString(): string {
    return hidden
  }

  toJSON(): string {
    return hidden
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return hidden
  }
}
