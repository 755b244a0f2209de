import type { NoteEntity } from '@silo/tenant-schema';

export interface NoteView {
  id: string;
  text: string;
  createdAt: string;
}

export function noteView(note: NoteEntity): NoteView {
  return { id: note.id, text: note.text, createdAt: note.createdAt.toISOString() };
}
