import { Injectable } from '@nestjs/common';
import { TenantContext } from '@silo/tenant-router';
import { NoteEntity } from '@silo/tenant-schema';

/** Notes of the current tenant, in that tenant's own database (the router's leased DataSource). */
@Injectable()
export class NotesService {
  async create(text: string): Promise<NoteEntity> {
    const notes = TenantContext.repository(NoteEntity);
    // id and created_at come from the table's defaults, returned by the INSERT.
    return notes.save(notes.create({ text }));
  }

  /** Newest first. */
  list(limit: number): Promise<NoteEntity[]> {
    return TenantContext.repository(NoteEntity).find({
      order: { createdAt: 'DESC', id: 'DESC' },
      take: limit,
    });
  }
}
