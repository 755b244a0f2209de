import { Body, Controller, Get, HttpCode, Post, UseInterceptors } from '@nestjs/common';
import { parseInput } from '@silo/http';
import { TenantScoped } from '@silo/tenant-router/nest';
import { SchemaVersionHeaderInterceptor } from '../tenant/schema-version-header.interceptor';
import { createNoteBody } from './note.requests';
import { noteView, type NoteView } from './note.view';
import { NotesService } from './notes.service';

const LIST_LIMIT = 100;

/** The tenant's notes. The tenant is the token's `tenant_id`; nothing in the request can change it. */
// Above @TenantScoped(): Nest runs it after the tenant context interceptor, inside the context.
@UseInterceptors(SchemaVersionHeaderInterceptor)
@TenantScoped()
@Controller('notes')
export class NotesController {
  constructor(private readonly notes: NotesService) {}

  @Post()
  @HttpCode(201)
  async create(@Body() body: unknown): Promise<NoteView> {
    const { text } = parseInput(createNoteBody, body, 'body');
    return noteView(await this.notes.create(text));
  }

  /** The newest {@link LIST_LIMIT} notes, newest first. */
  @Get()
  async list(): Promise<{ items: NoteView[] }> {
    return { items: (await this.notes.list(LIST_LIMIT)).map(noteView) };
  }
}
