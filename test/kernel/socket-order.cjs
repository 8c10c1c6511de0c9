// Preloaded into a kernel process by startup.test.ts (node --require): records, per socket, when
// its bind() settled and when receive() was first called, in the file TSFREEZE_SOCKET_LOG names.
'use strict';
const fs = require('fs');
const zmq = require('zeromq');
const log = process.env.TSFREEZE_SOCKET_LOG;
let base = zmq.Router.prototype;
while (base && !Object.getOwnPropertyNames(base).includes('receive')) base = Object.getPrototypeOf(base);
const { bind, receive } = base;
const ids = new WeakMap();
let next = 0;
const id = (s) => { if (!ids.has(s)) ids.set(s, `${s.constructor.name}#${next++}`); return ids.get(s); };
const write = (event, s, extra = '') => fs.appendFileSync(log, `${event} ${id(s)} ${extra}\n`);
// The native methods are read-only on the base prototype: shadow them on the kernel's socket classes.
for (const cls of [zmq.Router, zmq.Reply, zmq.Publisher]) {
  Object.defineProperty(cls.prototype, 'bind', {
    value(address) {
      write('bind-start', this, address);
      return bind.call(this, address).then((v) => { write('bind-done', this, address); return v; });
    },
  });
  Object.defineProperty(cls.prototype, 'receive', {
    value() {
      write('receive', this);
      return receive.call(this);
    },
  });
}
