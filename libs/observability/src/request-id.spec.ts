import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import { assignRequestId } from './request-id';

function exchange(header?: string | string[]) {
  const req = new IncomingMessage(new Socket());
  if (header !== undefined) req.headers['x-request-id'] = header;
  const res = new ServerResponse(req);
  return { req, res };
}

describe('assignRequestId', () => {
  it("keeps the caller's id and echoes it", () => {
    const { req, res } = exchange('req-42.a:b_c');
    expect(assignRequestId(req, res)).toBe('req-42.a:b_c');
    expect(res.getHeader('x-request-id')).toBe('req-42.a:b_c');
  });

  it('makes a UUID when none is given', () => {
    const { req, res } = exchange();
    const id = assignRequestId(req, res);
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(res.getHeader('x-request-id')).toBe(id);
  });

  it.each([['x'.repeat(129)], ['has space'], ['line\nbreak'], ['{"json":1}']])(
    'replaces an unusable id %j',
    (bad) => {
      const { req, res } = exchange(bad);
      const id = assignRequestId(req, res);
      expect(id).not.toBe(bad);
      expect(id).toHaveLength(36);
    },
  );
});
