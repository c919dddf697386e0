// felix with Calico's per-endpoint chains (the default layout); the tests are in suite.ts.
import { felixSuite } from './suite.js';

felixSuite(false);
