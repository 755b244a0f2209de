import {
  BadRequestException,
  Controller,
  Get,
  HttpException,
  type INestApplication,
  Logger,
  Param,
} from '@nestjs/common';
import type { ArgumentsHost } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import request from 'supertest';
import { problem } from './problem-details';
import { ProblemDetailsFilter, problemDetailsFilter, type ProblemMapper } from './problem-details.filter';

class QuotaError extends Error {}
class DatabaseAwayError extends Error {}

@Controller('fail')
class FailingController {
  @Get('quota')
  quota() {
    throw new QuotaError('tenant acme is over quota');
  }

  @Get('away')
  away() {
    throw new DatabaseAwayError('db at 10.0.0.7 refused');
  }

  @Get('http')
  http() {
    throw new HttpException(problem(409, 'Already there.', { hint: 'use PUT' }), 409);
  }

  @Get('framework/:value')
  framework(@Param('value') value: string) {
    throw new BadRequestException(`Validation failed (uuid is expected): ${value}`);
  }

  @Get('messages')
  messages() {
    throw new BadRequestException(['name must be a string', 'tier must be one of starter, pro']);
  }

  @Get('crash')
  crash() {
    throw new Error('connect ECONNREFUSED 10.0.0.7:5432 password=hunter2');
  }
}

const quotaMapper: ProblemMapper = (exception) =>
  exception instanceof QuotaError
    ? { body: problem(429, 'Over quota.'), headers: { 'Retry-After': '60' } }
    : undefined;

async function boot(...mappers: ProblemMapper[]): Promise<INestApplication> {
  const moduleRef = await Test.createTestingModule({
    controllers: [FailingController],
    providers: [problemDetailsFilter(...mappers)],
  }).compile();
  const app = moduleRef.createNestApplication({ logger: false });
  await app.init();
  return app;
}

/** One request to a fresh app with these mappers. */
async function requestOnce(path: string, ...mappers: ProblemMapper[]): Promise<request.Response> {
  const app = await boot(...mappers);
  try {
    return await request(app.getHttpServer()).get(path);
  } finally {
    await app.close();
  }
}

describe('ProblemDetailsFilter', () => {
  let app: INestApplication;
  const seen: string[] = [];
  const awayMapper: ProblemMapper = (exception, logger) => {
    if (!(exception instanceof DatabaseAwayError)) return undefined;
    logger.warn(exception.message);
    seen.push('away');
    return { body: problem(503, 'Retry later.') };
  };
  const greedyMapper: ProblemMapper = () => {
    seen.push('greedy');
    return { body: problem(500, 'The later mapper answered.') };
  };
  let logged: jest.SpyInstance;

  beforeAll(async () => {
    app = await boot(quotaMapper, awayMapper, greedyMapper);
  });
  beforeEach(() => {
    seen.length = 0;
    logged = jest.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
  });
  afterEach(() => jest.restoreAllMocks());
  afterAll(() => app.close());

  it('answers with the first mapper that knows the error, with its headers', async () => {
    const res = await request(app.getHttpServer()).get('/fail/quota').expect(429);
    expect(res.headers['content-type']).toMatch(/^application\/problem\+json/);
    expect(res.headers['retry-after']).toBe('60');
    expect(res.body).toEqual({
      type: 'about:blank',
      title: 'Too Many Requests',
      status: 429,
      detail: 'Over quota.',
    });
    expect(seen).toEqual([]);
  });

  it('asks the mappers in order and stops at the first answer', async () => {
    const res = await request(app.getHttpServer()).get('/fail/away').expect(503);
    expect(res.body).toMatchObject({ title: 'Service Unavailable', detail: 'Retry later.' });
    expect(seen).toEqual(['away']);
    expect(logged).not.toHaveBeenCalled();
  });

  it('keeps the problem body an HttpException already carries', async () => {
    const res = await requestOnce('/fail/http', quotaMapper);
    expect(res.status).toBe(409);
    expect(res.body).toEqual({
      type: 'about:blank',
      title: 'Conflict',
      status: 409,
      detail: 'Already there.',
      hint: 'use PUT',
    });
  });

  it('cuts a framework message to 200 characters, since it may quote the request', async () => {
    const res = await requestOnce(`/fail/framework/${'x'.repeat(500)}`);
    expect(res.body).toMatchObject({ status: 400, title: 'Bad Request' });
    expect(res.body.detail).toHaveLength(200);
    expect(res.body.detail).toMatch(/^Validation failed \(uuid is expected\): x+…$/);
  });

  it('joins a list of framework messages into one detail', async () => {
    const res = await requestOnce('/fail/messages');
    expect(res.status).toBe(400);
    expect(res.body.detail).toBe('name must be a string; tier must be one of starter, pro');
  });

  it('answers an unexpected error 500 without its internals, and logs it', async () => {
    const res = await requestOnce('/fail/crash', quotaMapper);
    expect(res.body).toEqual({
      type: 'about:blank',
      title: 'Internal Server Error',
      status: 500,
      detail: 'An unexpected error occurred.',
    });
    expect(res.text).not.toMatch(/10\.0\.0\.7|hunter2|ECONNREFUSED/);
    expect(logged).toHaveBeenCalledWith(
      { err: expect.objectContaining({ message: expect.stringContaining('ECONNREFUSED') }) },
      'unhandled error',
    );
  });

  it('assigns an x-request-id when none was set, and keeps the caller’s', async () => {
    const fresh = await request(app.getHttpServer()).get('/fail/quota');
    expect(fresh.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    const echoed = await request(app.getHttpServer()).get('/fail/quota').set('x-request-id', 'req-7');
    expect(echoed.headers['x-request-id']).toBe('req-7');
  });

  it('sends nothing once the response headers are out', () => {
    const res = {
      headersSent: true,
      getHeader: jest.fn(),
      setHeader: jest.fn(),
      set: jest.fn(),
      status: jest.fn(),
      send: jest.fn(),
    };
    const host = {
      switchToHttp: () => ({ getResponse: () => res, getRequest: () => ({ headers: {} }) }),
    } as unknown as ArgumentsHost;
    new ProblemDetailsFilter([quotaMapper]).catch(new QuotaError('late'), host);
    expect(res.setHeader).not.toHaveBeenCalled();
    expect(res.set).not.toHaveBeenCalled();
    expect(res.status).not.toHaveBeenCalled();
    expect(res.send).not.toHaveBeenCalled();
  });
});
