/**
 * The collection of containers: named, listed, looked up. A name is reserved
 * synchronously when a create starts, so two creates of one name cannot both proceed,
 * and a half-made container is never listed.
 */
import { Exists, NotFound, q } from '../errors.js';
import type { Container } from './container.js';

export class Registry {
  private readonly items = new Map<string, Container>();
  /** name → image, for creates under way. */
  private readonly reserved = new Map<string, string>();

  get(name: string): Container {
    const c = this.items.get(name);
    if (!c) throw new NotFound(`no such container ${q(name)}`);
    return c;
  }

  find(name: string): Container | undefined {
    return this.items.get(name);
  }

  names(): string[] {
    return [...this.items.keys()].sort();
  }

  all(): Container[] {
    return [...this.items.values()];
  }

  taken(name: string): boolean {
    return this.items.has(name) || this.reserved.has(name);
  }

  reserve(name: string, image: string): void {
    if (this.taken(name)) throw new Exists(`container ${q(name)} exists`);
    this.reserved.set(name, image);
  }

  release(name: string): void {
    this.reserved.delete(name);
  }

  add(c: Container): void {
    this.items.set(c.name, c);
    this.reserved.delete(c.name);
  }

  remove(name: string): void {
    this.items.delete(name);
  }

  imageInUse(image: string): boolean {
    for (const c of this.items.values()) if (c.record.image === image) return true;
    for (const img of this.reserved.values()) if (img === image) return true;
    return false;
  }
}
