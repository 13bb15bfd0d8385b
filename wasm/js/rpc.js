// Promise-based RPC over postMessage (a Worker, the worker's global scope,
// or a MessagePort). Requests {id, method, args}; replies {id, result} or
// {id, error: {message, code, codeName}}; events {event, data} flow from the
// serving side at any time.

import { Codes } from './codes.js';

// Serves `dispatch(method, args) -> value | Promise` on `port`.
export function serve(port, dispatch) {
  port.onmessage = async (e) => {
    const { id, method, args } = e.data || {};
    if (typeof id !== 'number') return;
    try {
      const result = await dispatch(method, args || []);
      port.postMessage({ id, result });
    } catch (err) {
      port.postMessage({
        id,
        error: {
          message: err && err.message ? err.message : String(err),
          code: err && typeof err.code === 'number' ? err.code : Codes.Internal,
          codeName: err && err.codeName ? err.codeName : 'Internal',
        },
      });
    }
  };
  return (event, data) => port.postMessage({ event, data });
}

// The calling side: call(method, ...args) returns a promise; onEvent(cb).
export class RpcClient {
  constructor(port) {
    this.port = port;
    this.nextId = 1;
    this.pending = new Map();
    this.listeners = new Set();
    port.onmessage = (e) => this.#receive(e.data || {});
  }

  call(method, ...args) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.port.postMessage({ id, method, args });
    });
  }

  onEvent(cb) {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  // Rejects every call still waiting (the worker is gone).
  failAll(error) {
    for (const { reject } of this.pending.values()) reject(error);
    this.pending.clear();
  }

  #receive(msg) {
    if (msg.event) {
      for (const cb of this.listeners) cb(msg.event, msg.data);
      return;
    }
    const waiting = this.pending.get(msg.id);
    if (!waiting) return;
    this.pending.delete(msg.id);
    if (msg.error) {
      const err = new Error(msg.error.message);
      err.code = msg.error.code;
      err.codeName = msg.error.codeName;
      waiting.reject(err);
    } else {
      waiting.resolve(msg.result);
    }
  }
}
