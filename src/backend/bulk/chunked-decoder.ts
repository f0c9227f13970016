/**
 * Chunked transfer coding (RFC 9112 §7.1), decoded without copying: each buffer read from the
 * connection gives back the parts of it that are body data, as views into it. The chunk sizes
 * and trailers in between are consumed across buffer boundaries by a small state machine.
 */
import { MalformedResponse } from './response-head.js';

type State = 'size' | 'size-extension' | 'size-lf' | 'data' | 'data-cr' | 'data-lf' | 'trailer-start' | 'trailer-line' | 'trailer-lf' | 'final-lf' | 'done';

/** A chunk size line longer than this (hex digits and extensions) is refused. */
const MAX_SIZE_LINE = 1024;
const MAX_TRAILER_BYTES = 16 * 1024;

export class ChunkedDecoder {
  private state: State = 'size';
  private size = 0;
  private sizeDigits = 0;
  private lineBytes = 0;
  private remaining = 0;
  private trailerBytes = 0;

  get done(): boolean {
    return this.state === 'done';
  }

  /**
   * The body data in `buffer` (views into it), and how many of its bytes belong to this body
   * (the rest, if any, came after its end).
   */
  push(buffer: Buffer): { data: Buffer[]; consumed: number } {
    const data: Buffer[] = [];
    let at = 0;
    while (at < buffer.length && this.state !== 'done') {
      if (this.state === 'data') {
        const take = Math.min(this.remaining, buffer.length - at);
        data.push(buffer.subarray(at, at + take));
        at += take;
        this.remaining -= take;
        if (this.remaining === 0) this.state = 'data-cr';
        continue;
      }
      this.step(buffer[at] as number);
      at += 1;
    }
    return { data, consumed: at };
  }

  private step(byte: number): void {
    switch (this.state) {
      case 'size': {
        const digit = hexValue(byte);
        if (digit !== undefined) {
          this.sizeDigits += 1;
          if (this.sizeDigits > 12) throw new MalformedResponse('a chunk larger than the gateway accepts');
          this.size = this.size * 16 + digit;
        } else if (byte === 0x3b /* ; */ || byte === 0x20 || byte === 0x09) {
          this.state = 'size-extension';
        } else if (byte === 0x0d) {
          this.state = 'size-lf';
        } else {
          throw new MalformedResponse('a malformed chunk size');
        }
        this.countLine();
        return;
      }
      case 'size-extension':
        if (byte === 0x0d) this.state = 'size-lf';
        this.countLine();
        return;
      case 'size-lf':
        if (byte !== 0x0a || this.sizeDigits === 0) throw new MalformedResponse('a malformed chunk size line');
        this.lineBytes = 0;
        this.sizeDigits = 0;
        if (this.size === 0) {
          this.state = 'trailer-start';
        } else {
          this.remaining = this.size;
          this.size = 0;
          this.state = 'data';
        }
        return;
      case 'data-cr':
        if (byte !== 0x0d) throw new MalformedResponse('a chunk longer than its size');
        this.state = 'data-lf';
        return;
      case 'data-lf':
        if (byte !== 0x0a) throw new MalformedResponse('a chunk not ended by CRLF');
        this.state = 'size';
        return;
      case 'trailer-start':
        this.state = byte === 0x0d ? 'final-lf' : 'trailer-line';
        this.countTrailer();
        return;
      case 'trailer-line':
        if (byte === 0x0d) this.state = 'trailer-lf';
        this.countTrailer();
        return;
      case 'trailer-lf':
        if (byte !== 0x0a) throw new MalformedResponse('a malformed trailer');
        this.state = 'trailer-start';
        return;
      case 'final-lf':
        if (byte !== 0x0a) throw new MalformedResponse('a chunked body not ended by CRLF');
        this.state = 'done';
        return;
      default:
        throw new MalformedResponse(`unexpected byte in state ${this.state}`);
    }
  }

  private countLine(): void {
    this.lineBytes += 1;
    if (this.lineBytes > MAX_SIZE_LINE) throw new MalformedResponse('a chunk size line too long');
  }

  private countTrailer(): void {
    this.trailerBytes += 1;
    if (this.trailerBytes > MAX_TRAILER_BYTES) throw new MalformedResponse('trailers too long');
  }
}

function hexValue(byte: number): number | undefined {
  if (byte >= 0x30 && byte <= 0x39) return byte - 0x30;
  if (byte >= 0x61 && byte <= 0x66) return byte - 0x61 + 10;
  if (byte >= 0x41 && byte <= 0x46) return byte - 0x41 + 10;
  return undefined;
}
