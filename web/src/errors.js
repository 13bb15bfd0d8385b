// A person-readable message for an error from the client API (which carries
// the core's .codeName) or anything else. Codes a person can act on have
// their own catalog message; the rest show the core's message.
import { t } from './i18n.js';

const KNOWN = [
  'WrongPassphrase',
  'NotAMember',
  'Expired',
  'UnknownSpace',
  'InvalidArgument',
  'Storage',
  'Forbidden',
  'NotFound',
  'TooLarge',
];

export function errorText(e) {
  if (!e) return '';
  if (e.codeName === 'NotAMember' && /already been used/.test(e.message || '')) return t('common.error_inviteUsed');
  if (e.codeName === 'Forbidden' && /open in another tab/.test(e.message || '')) return t('common.error_otherTab');
  if (KNOWN.includes(e.codeName)) return t(`common.error_${e.codeName}`);
  return t('common.errorGeneric', { message: e.message || String(e) });
}
