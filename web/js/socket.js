// A minimal Socket.IO v5 client (Engine.IO v4 over a WebSocket, no polling), enough for
// the box's live events: connect with auth {token}, events in and out, heartbeats, and
// reconnection with backoff. A refused token is refreshed before the next try.

export class Live {
  constructor({ token, refresh, onState }) {
    this.token = token;        // () => current access token
    this.refresh = refresh;    // () => Promise<boolean>
    this.onState = onState;    // (state, detail) => void; 'connecting' | 'online' | 'offline'
    this.handlers = new Map();
    this.ws = null;
    this.attempt = 0;
    this.timer = null;
    this.heartbeat = null;
    this.stopped = true;
    this.state = 'offline';
  }

  on(name, fn) {
    if (!this.handlers.has(name)) this.handlers.set(name, new Set());
    this.handlers.get(name).add(fn);
    return () => this.handlers.get(name).delete(fn);
  }

  start() {
    this.stopped = false;
    if (!this.ws) this.open();
  }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.heartbeat);
    if (this.ws) { this.ws.onclose = null; this.ws.close(); this.ws = null; }
    this.set('offline');
  }

  emit(name, data) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send('42' + JSON.stringify([name, data]));
    }
  }

  set(state, detail) {
    const changed = this.state !== state;
    this.state = state;
    if (changed || detail) this.onState(state, detail);
  }

  open() {
    clearTimeout(this.timer);
    if (this.ws && this.ws.readyState <= WebSocket.OPEN) return; // one socket at a time
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    let ws;
    try {
      ws = new WebSocket(`${proto}//${location.host}/socket.io/?EIO=4&transport=websocket`);
    } catch {
      this.retry();
      return;
    }
    this.ws = ws;
    if (this.state !== 'online') this.set('connecting');
    ws.onmessage = (ev) => { if (ws === this.ws) this.packet(ws, String(ev.data)); };
    ws.onclose = () => {
      if (ws !== this.ws) return;
      clearTimeout(this.heartbeat);
      this.ws = null;
      if (!this.stopped) {
        this.set('offline');
        this.retry();
      }
    };
    ws.onerror = () => {};
  }

  retry() {
    if (this.stopped) return;
    const base = Math.min(10000, 500 * 2 ** this.attempt);
    this.attempt++;
    this.timer = setTimeout(() => this.open(), base / 2 + Math.random() * base / 2);
  }

  alive(ms) {
    clearTimeout(this.heartbeat);
    this.heartbeat = setTimeout(() => { if (this.ws) this.ws.close(); }, ms);
  }

  async packet(ws, data) {
    const type = data[0];
    if (type === '0') { // Engine.IO open
      const open = JSON.parse(data.slice(1));
      this.pingWindow = (open.pingInterval || 25000) + (open.pingTimeout || 20000);
      this.alive(this.pingWindow);
      ws.send('40' + JSON.stringify({ token: this.token() || '' }));
    } else if (type === '2') { // ping
      ws.send('3');
      this.alive(this.pingWindow);
    } else if (type === '1') {
      ws.close();
    } else if (type === '4') {
      const kind = data[1];
      const body = data.slice(2);
      if (kind === '0') {
        const wasRetry = this.attempt > 0;
        this.attempt = 0;
        this.set('online', wasRetry ? 'reconnected' : undefined);
      } else if (kind === '4') { // connect_error: refresh the token, then try again
        let why = 'refused';
        try { why = JSON.parse(body).message || why; } catch { /* keep */ }
        this.ws = null;
        ws.onclose = null;
        ws.close();
        const renewed = await this.refresh();
        if (this.stopped || this.ws) return;
        this.set('offline', renewed ? undefined : why);
        if (renewed) this.open(); else this.retry();
      } else if (kind === '1') {
        ws.close();
      } else if (kind === '2') {
        let msg;
        try { msg = JSON.parse(body.slice(body.indexOf('['))); } catch { return; }
        const [name, payload] = msg;
        for (const fn of this.handlers.get(name) || []) {
          try { fn(payload); } catch (e) { console.error(e); }
        }
      }
    }
  }
}
