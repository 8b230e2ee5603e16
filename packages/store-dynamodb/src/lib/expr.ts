/** A tiny builder for expression attribute names and values (each used at most once, as DynamoDB requires). */
import type { AttributeValue } from '@aws-sdk/client-dynamodb';

export class Expr {
  private readonly names: Record<string, string> = {};
  private readonly values: Record<string, AttributeValue> = {};
  private count = 0;

  /** `#name` placeholder for an attribute name (a dotted path becomes a nested path). */
  n(path: string): string {
    return path
      .split('.')
      .map(part => {
        const key = `#${part.replace(/[^A-Za-z0-9_]/g, '_')}`;
        this.names[key] = part;
        return key;
      })
      .join('.');
  }

  /** `:vN` placeholder for a value. */
  v(value: AttributeValue): string {
    const key = `:v${this.count++}`;
    this.values[key] = value;
    return key;
  }
  s(value: string): string {
    return this.v({ S: value });
  }
  num(value: number): string {
    return this.v({ N: String(value) });
  }

  /** The attribute is missing or explicitly NULL. */
  absent(attr: string): string {
    const a = this.n(attr);
    return `(attribute_not_exists(${a}) OR attribute_type(${a}, ${this.s('NULL')}))`;
  }

  /** Present record item, not revoked, not expired at `now`. */
  live(now: number): string {
    return `attribute_exists(${this.n('pk')}) AND ${this.absent('revokedAt')} AND (${this.absent('expiresAt')} OR ${this.n('expiresAt')} > ${this.num(now)})`;
  }

  /** Spread into a command input. */
  get attrs(): { ExpressionAttributeNames?: Record<string, string>; ExpressionAttributeValues?: Record<string, AttributeValue> } {
    const out: { ExpressionAttributeNames?: Record<string, string>; ExpressionAttributeValues?: Record<string, AttributeValue> } = {};
    if (Object.keys(this.names).length) out.ExpressionAttributeNames = { ...this.names };
    if (Object.keys(this.values).length) out.ExpressionAttributeValues = { ...this.values };
    return out;
  }
}
