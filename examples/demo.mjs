// `npm run demo` (add --keep to keep the temporary folder): runs the community story in ./community/demo.mjs —
// a maintainer and three contributors improve a digit classifier with Weft and git. See that file.
import './community/demo.mjs';
