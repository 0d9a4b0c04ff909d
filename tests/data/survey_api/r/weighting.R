## References for tests/test_weighting.py, computed with R's survey package on the CSV
## samples of this folder (not run in CI). Run from the repository root:
##   Rscript tests/data/survey_api/r/weighting.R > tests/data/survey_api/r/weighting.Rout
## The printed output is committed beside this script (weighting.Rout).
suppressMessages(library(survey))
cat("R", R.version$major, ".", R.version$minor, " survey ", format(packageVersion("survey")), "\n", sep = "")
options(digits = 7)
dir <- "tests/data/survey_api"
rd <- function(f) read.csv(file.path(dir, f), stringsAsFactors = TRUE,
                           colClasses = c(cds = "character"))
apiclus1 <- rd("apiclus1.csv"); apistrat <- rd("apistrat.csv"); apipop <- rd("apipop.csv")
apiclus2 <- rd("apiclus2.csv")
show <- function(label, x) { cat("###", label, "\n"); print(x); invisible(x) }
est <- function(label, x) {
  cat("###", label, "\n")
  print(cbind(estimate = coef(x), SE = SE(x)), digits = 10)
}

dclus1 <- svydesign(id = ~dnum, weights = ~pw, data = apiclus1, fpc = ~fpc)

## linear calibration (vignette)
gclus1 <- calibrate(dclus1, ~api99, c(6194, 3914069))
est("gclus1 svymean api00", svymean(~api00, gclus1))
est("gclus1 svytotal enroll", svytotal(~enroll, gclus1))
est("gclus1 svytotal api99", svytotal(~api99, gclus1))
est("gclus1 svyby api00 stype", svyby(~api00, ~stype, gclus1, svymean))
est("gclus1 subset sch.wide Yes svymean api00", svymean(~api00, subset(gclus1, sch.wide == "Yes")))
est("gclus1 svyratio api.stu enroll", svyratio(~api.stu, ~enroll, gclus1))

## post-stratification (postStratify.Rd)
pop.types <- data.frame(stype = c("E", "H", "M"), Freq = c(4421, 755, 1018))
dclus1p <- postStratify(dclus1, ~stype, pop.types)
est("dclus1p svymean api00", svymean(~api00, dclus1p))
est("dclus1p svytotal enroll", svytotal(~enroll, dclus1p))
est("dclus1p svytotal stype", svytotal(~stype, dclus1p))
est("dclus1p svyby api00 stype", svyby(~api00, ~stype, dclus1p, svymean))
est("dclus1p subset sch.wide Yes svymean api00", svymean(~api00, subset(dclus1p, sch.wide == "Yes")))

## post-stratification of a stratified design with unequal weights within post-strata
dstrat <- svydesign(id = ~1, strata = ~stype, weights = ~pw, data = apistrat, fpc = ~fpc)
pop.awards <- data.frame(awards = c("No", "Yes"), Freq = as.vector(table(apipop$awards)))
show("pop.awards", pop.awards)
dstratp <- postStratify(dstrat, ~awards, pop.awards)
est("dstratp svymean api00", svymean(~api00, dstratp))
est("dstratp svytotal enroll", svytotal(~enroll, dstratp))

## raking (rake.Rd, tests/rakecheck.R)
pop.schwide <- data.frame(sch.wide = c("No", "Yes"), Freq = c(1072, 5122))
dclus1r <- rake(dclus1, list(~stype, ~sch.wide), list(pop.types, pop.schwide))
est("dclus1r svymean api00", svymean(~api00, dclus1r))
est("dclus1r svytotal enroll", svytotal(~enroll, dclus1r))
est("dclus1r svytotal stype", svytotal(~stype, dclus1r))
est("dclus1r svytotal sch.wide", svytotal(~sch.wide, dclus1r))
dclus1rc <- rake(dclus1, list(~stype, ~sch.wide), list(pop.types, pop.schwide),
                 control = list(maxit = 100, epsilon = 1e-10))
est("dclus1r converged svymean api00", svymean(~api00, dclus1rc))
est("dclus1r converged svytotal enroll", svytotal(~enroll, dclus1rc))
est("dclus1r converged svyby api00 stype", svyby(~api00, ~stype, dclus1rc, svymean))
show("dclus1r converged weights", summary(weights(dclus1rc)))
ff <- ~stype + sch.wide
poptotals <- colSums(model.matrix(ff, model.frame(ff, apipop)))
show("poptotals", poptotals)
dclus1g <- calibrate(dclus1, ~stype + sch.wide, poptotals, calfun = "raking")
est("calibrate raking svymean api00", svymean(~api00, dclus1g))
est("calibrate raking svytotal enroll", svytotal(~enroll, dclus1g))
pop.awards2 <- data.frame(awards = c("No", "Yes"), Freq = as.vector(table(apipop$awards)))
dstratr <- rake(dstrat, list(~sch.wide, ~awards), list(pop.schwide, pop.awards2),
                control = list(maxit = 100, epsilon = 1e-10))
est("dstratr converged svymean api00", svymean(~api00, dstratr))
est("dstratr converged svytotal enroll", svytotal(~enroll, dstratr))

## linear calibration on several variables (calibrate.Rd)
pop.totals <- c(`(Intercept)` = 6194, stypeH = 755, stypeM = 1018)
dclus1g1 <- calibrate(dclus1, ~stype, pop.totals)
est("calibrate stype svymean api00", svymean(~api00, dclus1g1))
est("calibrate stype svytotal enroll", svytotal(~enroll, dclus1g1))
dclus1g3 <- calibrate(dclus1, ~stype + api99, c(pop.totals, api99 = 3914069))
est("calibrate stype+api99 svymean api00", svymean(~api00, dclus1g3))
est("calibrate stype+api99 svytotal enroll", svytotal(~enroll, dclus1g3))
show("calibrate stype+api99 g range", range(weights(dclus1g3) / weights(dclus1)))
## bounded linear, raking and logit (calibrate.Rd)
dclus1g3b <- calibrate(dclus1, ~stype + api99, c(pop.totals, api99 = 3914069), bounds = c(0.6, 1.6))
show("bounded linear g range", range(weights(dclus1g3b) / weights(dclus1)))
est("bounded linear svymean api00", svymean(~api00, dclus1g3b))
dclus1g3c <- calibrate(dclus1, ~stype + api99, c(pop.totals, api99 = 3914069), calfun = "raking")
show("raking g range", range(weights(dclus1g3c) / weights(dclus1)))
est("raking svymean api00", svymean(~api00, dclus1g3c))
dclus1g3d <- calibrate(dclus1, ~stype + api99, c(pop.totals, api99 = 3914069), calfun = "logit",
                       bounds = c(0.5, 2.5))
show("logit g range", range(weights(dclus1g3d) / weights(dclus1)))
est("logit svymean api00", svymean(~api00, dclus1g3d))
est("logit svytotal enroll", svytotal(~enroll, dclus1g3d))
## calibration of a two-stage design
dclus2 <- svydesign(id = ~dnum + snum, fpc = ~fpc1 + fpc2, data = apiclus2)
dclus2g <- calibrate(dclus2, ~stype, pop.totals)
est("dclus2 calibrate stype svymean api00", svymean(~api00, dclus2g))
est("dclus2 calibrate stype svytotal enroll", svytotal(~enroll, dclus2g, na.rm = TRUE))

## trimWeights (trimWeights.Rd)
show("dclus1g3 weights", summary(weights(dclus1g3)))
dclus1t <- trimWeights(dclus1g3, lower = 20, upper = 45)
show("trimmed weights", summary(weights(dclus1t)))
dclus1tt <- trimWeights(dclus1g3, lower = 20, upper = 45, strict = TRUE)
show("strictly trimmed weights", summary(weights(dclus1tt)))
est("untrimmed svymean api99+api00+stype", svymean(~api99 + api00 + stype, dclus1g3))
est("trimmed svymean api99+api00+stype", svymean(~api99 + api00 + stype, dclus1t))
est("strictly trimmed svymean api99+api00+stype", svymean(~api99 + api00 + stype, dclus1tt))

## quantiles (svyquantile.Rd; qrule = "math", interval.type = "mean")
qshow <- function(label, x) { cat("###", label, "\n"); print(do.call(rbind, x), digits = 10) }
qshow("dclus1 svyquantile api00", svyquantile(~api00, dclus1, c(.25, .5, .75), ci = TRUE))
qshow("dclus1 svyquantile enroll", svyquantile(~enroll, dclus1, c(.1, .5, .9), ci = TRUE))
qshow("dstrat svyquantile api00", svyquantile(~api00, dstrat, c(.25, .5, .75), ci = TRUE))
qshow("dclus1p svyquantile api00", svyquantile(~api00, dclus1p, c(.25, .5, .75), ci = TRUE))
qshow("gclus1 svyquantile api00", svyquantile(~api00, gclus1, c(.25, .5, .75), ci = TRUE))
qshow("dclus1r converged svyquantile api00", svyquantile(~api00, dclus1rc, c(.25, .5, .75), ci = TRUE))
qshow("dclus1 svyquantile api00 level 0.9", svyquantile(~api00, dclus1, c(.5), ci = TRUE, alpha = 0.1))
qshow("dclus1 subset stype E svyquantile api00", svyquantile(~api00, subset(dclus1, stype == "E"), c(.25, .5, .75), ci = TRUE))

## heteroscedastic calibration (variance=): the ratio estimator (tests/caleg.R), and raking
total.enroll <- sum(apipop$enroll, na.rm = TRUE)
dstratg <- calibrate(dstrat, ~enroll - 1, total.enroll, variance = 1)
est("ratio calibration svytotal api.stu", svytotal(~api.stu, dstratg))
dstratgr <- calibrate(dstrat, ~enroll - 1, total.enroll, variance = 1, calfun = "raking")
est("ratio raking calibration svytotal api.stu", svytotal(~api.stu, dstratgr))
dstratgv <- calibrate(dstrat, ~stype + enroll, c(pop.totals, enroll = total.enroll),
                      variance = c(0, 0, 0, 1), calfun = "linear")
est("variance=enroll linear svytotal api.stu", svytotal(~api.stu, dstratgv))
