import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer } from 'ws';
import type { Logger } from '../logger.ts';

/**
 * A WebSocket server that shares an HTTP server's port: upgrades on `paths` are handed to it,
 * anything else is refused with 404 (an upgrade nobody handles would otherwise hang until the
 * client gives up). `maxPayload` caps one incoming message before it is buffered whole.
 */
export function attachWebSocketServer(
  server: Server,
  options: { paths: string[]; maxPayload: number; logger: Logger },
): WebSocketServer {
  const wss = new WebSocketServer({ noServer: true, maxPayload: options.maxPayload });
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const path = new URL(req.url ?? '/', 'http://upgrade').pathname;
    if (!options.paths.includes(path)) {
      socket.end('HTTP/1.1 404 Not Found\r\nconnection: close\r\ncontent-length: 0\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => {
      wss.emit('connection', ws, req);
      // graphql-ws prints socket errors with console.error. They are the peer's protocol
      // violations (an oversized or malformed frame), which ws has already answered with the
      // right close code (1009, 1002): log them as structured lines instead.
      ws.removeAllListeners('error');
      ws.on('error', (err) => {
        options.logger.debug({ err, path: req.url }, 'WebSocket closed on a protocol error');
        if (ws.readyState === ws.OPEN) ws.close(1011, 'Internal error');
      });
    });
  });
  return wss;
}
