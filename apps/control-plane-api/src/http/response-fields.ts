import { z } from 'zod';

/** An ISO 8601 instant in a response body, as every route writes it. */
export const timestampField = z.string().meta({ format: 'date-time', example: '2026-01-31T12:00:00.000Z' });
