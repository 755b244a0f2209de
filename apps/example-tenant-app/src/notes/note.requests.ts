import { z } from 'zod';

export const NOTE_MAX_CHARACTERS = 10_000;

/** `POST /notes`: `{text}`, 1–10,000 characters (code points, as the table's check counts them). */
export const createNoteBody = z
  .object({
    text: z
      .string({ error: 'must be a string' })
      .refine((text) => !text.includes('\u0000'), 'must not contain NUL characters')
      .refine((text) => {
        const length = [...text].length;
        return length >= 1 && length <= NOTE_MAX_CHARACTERS;
      }, `must be 1 to ${NOTE_MAX_CHARACTERS} characters`),
  })
  .strict();
