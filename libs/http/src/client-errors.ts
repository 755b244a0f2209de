import { randomUUID } from 'node:crypto';
import { STATUS_CODES, type Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { problem, PROBLEM_CONTENT_TYPE } from './problem-details';

/** What Node's HTTP parser reports for a request it could not read, and our answer. */
const ANSWERS: Record<string, { status: number; detail: string }> = {
  HPE_HEADER_OVERFLOW: { status: 431, detail: 'The request headers are larger than this server accepts.' },
  ERR_HTTP_REQUEST_TIMEOUT: { status: 408, detail: 'The request was not received in time.' },
};
const MALFORMED = { status: 400, detail: 'The request is not valid HTTP/1.1.' };

/**
 * Answers requests that Node's HTTP parser refuses before any route sees them (headers over
 * `maxHeaderSize` → 431, a malformed request line or header → 400, a request too slow → 408)
 * with problem+json and an X-Request-Id, as every other error, instead of Node's bare status
 * line. The parser's message is not echoed (it can quote the request). The connection is closed.
 */
export function answerClientErrorsWithProblems(server: Server): void {
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex & { bytesWritten?: number }) => {
    // Node's own rule: answer only on a socket that can take it and has had nothing written yet
    // (a response already under way cannot be followed by another status line).
    if (error.code === 'ECONNRESET' || !socket.writable || (socket.bytesWritten ?? 0) > 0) {
      socket.destroy();
      return;
    }
    const { status, detail } = ANSWERS[error.code ?? ''] ?? MALFORMED;
    const body = JSON.stringify(problem(status, detail));
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\n` +
        `Content-Type: ${PROBLEM_CONTENT_TYPE}; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n` +
        `X-Request-Id: ${randomUUID()}\r\n` +
        'Connection: close\r\n\r\n' +
        body,
    );
  });
}
