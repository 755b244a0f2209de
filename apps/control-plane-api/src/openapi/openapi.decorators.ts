import { TIER_NAMES } from '@silo/core';
import { applyDecorators } from '@nestjs/common';
import {
  ApiParam,
  ApiQuery,
  ApiResponse,
  type HeaderObject,
  type ParameterObject,
  type ResponseObject,
} from '@nestjs/swagger';
import { PROBLEM_CONTENT_TYPE } from '@silo/http';
import type { z } from 'zod';
import { openApiSchema, schemaRef, type ComponentName } from './openapi.schemas';

/** A problem+json response: every error of the API has this body. */
export function problemResponse(description: string, headers?: Record<string, HeaderObject>): ResponseObject {
  return {
    description,
    ...(headers ? { headers } : {}),
    content: { [PROBLEM_CONTENT_TYPE]: { schema: schemaRef('Problem') } },
  };
}

/** The success response: a JSON body of the named schema. */
export function ApiJsonResponse(
  status: number,
  schema: ComponentName,
  description: string,
  headers?: Record<string, HeaderObject>,
) {
  return ApiResponse({
    status,
    description,
    ...(headers ? { headers } : {}),
    content: { 'application/json': { schema: schemaRef(schema) } },
  });
}

/**
 * The route's own error answers, status → what it means here. 401, 403 and 429 are added from
 * the route's access rule and rate limit, 413 and 415 to every route with a body
 * (openapi.document.ts).
 */
export function ApiProblems(descriptions: Partial<Record<number, string>>) {
  return applyDecorators(
    ...Object.entries(descriptions).map(([status, description]) =>
      ApiResponse({ status: Number(status), ...problemResponse(description ?? '') }),
    ),
  );
}

type ParameterDoc = Omit<ParameterObject, 'name' | 'in' | 'required'>;

/**
 * Query parameters of a zod object schema: the names and whether each is required come from
 * zod, each schema is converted from zod, and `given` adds to or replaces what was derived.
 * Transforms do not convert faithfully (a comma-separated list parsed into an array converts as
 * a plain string): give those parameters their schema.
 */
export function ApiQueryFrom<S extends z.ZodObject>(
  schema: S,
  given: Partial<Record<Extract<keyof S['shape'], string>, ParameterDoc>> = {},
) {
  const shape = schema.shape as Record<string, z.ZodType>;
  return applyDecorators(
    ...Object.entries(shape).map(([name, field]) =>
      ApiQuery({
        name,
        required: !field.safeParse(undefined).success,
        schema: openApiSchema(field),
        ...(given as Record<string, ParameterDoc | undefined>)[name],
      }),
    ),
  );
}

/** The `{idOrSlug}` path parameter of the tenant routes. */
export const ApiTenantParam = () =>
  ApiParam({
    name: 'idOrSlug',
    description: 'The tenant’s id (UUID) or slug.',
    schema: { type: 'string' },
  });

/** The `tier` list filter as the document states it (comma-separated, form style). */
export const TIER_FILTER_PARAM = {
  schema: { type: 'array' as const, items: { type: 'string' as const, enum: [...TIER_NAMES] } },
  style: 'form' as const,
  explode: false,
};
