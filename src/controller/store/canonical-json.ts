// Moved to src/lib (release signatures use it too); kept so existing imports work.
export { canonicalJson } from '../../lib/canonical-json.js';
