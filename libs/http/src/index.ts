export { configureJsonHttp, type JsonHttpOptions } from './json-body';
export { PROBLEM_CONTENT_TYPE, problem, type ProblemDetails } from './problem-details';
export {
  ProblemDetailsFilter,
  problemDetailsFilter,
  type ProblemAnswer,
  type ProblemMapper,
} from './problem-details.filter';
export { parseInput, type InputPart } from './validation';
export { applyServerTimeouts, type ServerTimeouts } from './server-timeouts';
export { bearerUnauthorized } from './unauthorized';
