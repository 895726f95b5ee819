/** mqsim's version, recorded in every trace header; a test keeps it equal to package.json's. */
export const MQSIM_VERSION = "0.1.0";
