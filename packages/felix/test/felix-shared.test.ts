// felix with shared endpoint chains (FELIX_SHAREDENDPOINTCHAINS=true); the tests are in suite.ts.
import { felixSuite } from './suite.js';

felixSuite(true);
