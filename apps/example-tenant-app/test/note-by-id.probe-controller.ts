import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  NotFoundException,
  Param,
  ParseUUIDPipe,
  Patch,
} from '@nestjs/common';
import { parseInput } from '@silo/http';
import { TenantContext, TenantScoped } from '@silo/tenant-router/nest';
import { NoteEntity } from '@silo/tenant-schema';
import { createNoteBody } from '../src/notes/note.requests';
import { noteView, type NoteView } from '../src/notes/note.view';

const notFound = () => new NotFoundException('no such note');

/**
 * Routes the example app does not have, written as its own handlers are (`@TenantScoped()`, one
 * `TenantContext.transaction` on the `NoteEntity` repository): read, update and delete one note by
 * its id. Tests mount it next to the app's controllers to show that a handler written this way
 * cannot reach another tenant's note through its id, in any placement: the tenant comes from the
 * token, the rows from that tenant's database, schema or share of the pool.
 */
@TenantScoped()
@Controller('probe/notes')
export class NoteByIdProbeController {
  @Get(':id')
  async read(@Param('id', ParseUUIDPipe) id: string): Promise<NoteView> {
    const note = await TenantContext.transaction((manager) =>
      manager.getRepository(NoteEntity).findOneBy({ id }),
    );
    if (!note) throw notFound();
    return noteView(note);
  }

  @Patch(':id')
  async update(@Param('id', ParseUUIDPipe) id: string, @Body() body: unknown): Promise<NoteView> {
    const { text } = parseInput(createNoteBody, body, 'body');
    const note = await TenantContext.transaction(async (manager) => {
      const notes = manager.getRepository(NoteEntity);
      const { affected } = await notes.update({ id }, { text });
      return affected ? notes.findOneBy({ id }) : null;
    });
    if (!note) throw notFound();
    return noteView(note);
  }

  @Delete(':id')
  @HttpCode(204)
  async remove(@Param('id', ParseUUIDPipe) id: string): Promise<void> {
    const { affected } = await TenantContext.transaction((manager) =>
      manager.getRepository(NoteEntity).delete({ id }),
    );
    if (!affected) throw notFound();
  }
}
