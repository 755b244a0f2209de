import { Injectable } from '@nestjs/common';
import { TenantContext } from '@silo/tenant-router/nest';
import { NoteEntity } from '@silo/tenant-schema';

/**
 * Notes of the current tenant, wherever its data lives: each call is one transaction on the
 * tenant's database (its own, its schema on a shared host, or its rows of a pool), so the same
 * code serves every placement.
 */
@Injectable()
export class NotesService {
  create(text: string): Promise<NoteEntity> {
    return TenantContext.transaction((manager) => {
      const notes = manager.getRepository(NoteEntity);
      // id and created_at come from the table's defaults (tenant_id too), returned by the INSERT.
      return notes.save(notes.create({ text }));
    });
  }

  /** Newest first. */
  list(limit: number): Promise<NoteEntity[]> {
    return TenantContext.transaction((manager) =>
      manager.getRepository(NoteEntity).find({ order: { createdAt: 'DESC', id: 'DESC' }, take: limit }),
    );
  }
}
