// Who a task is assigned to: the members of the space one can pick, and
// what a choice writes (the member's device and name).
import { t, locale } from '../../i18n.js';
import { useQuery, useAuthors } from '../../db.js';

// The members of a space one can assign work to: [{device, name}] by name
// (pending invites left out; a device without a profile shows its key).
export function useMembers(space) {
  const authors = useAuthors(space);
  const { data } = useQuery(space, (db) => db.members(space), []);
  const list = (data || [])
    .filter((m) => !m.inviteExpires && m.role !== 'none')
    .map((m) => ({
      device: m.device,
      name: authors.get(m.device) || t('common.deviceShort', { key: m.device.slice(0, 8) }),
    }));
  return list.sort((a, b) => a.name.localeCompare(b.name, locale()));
}

// [value, label] options of an assignee select: nobody, the members, and a
// name typed before the picker existed (kept as it is).
export function assigneeOptions(members, item) {
  const options = [['', t('edit.nobody')], ...members.map((m) => [m.device, m.name])];
  const legacy =
    item && !item.values.assignee_device && typeof item.values.assignee === 'string' && item.values.assignee;
  if (legacy) options.push([LEGACY, t('edit.typedAssignee', { name: item.values.assignee })]);
  return options;
}

export const LEGACY = 'typed';

// What an assignee choice writes: the member's device (Activity's "assigned
// to me") and their name (what others and the CLI read).
export function assigneeFields(members, choice) {
  if (choice === LEGACY) return {};
  const m = members.find((x) => x.device === choice);
  return m ? { assignee_device: m.device, assignee: m.name } : { assignee_device: '', assignee: '' };
}
