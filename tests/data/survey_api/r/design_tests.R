## References for tests/test_design_tests.py (two-way tables, Rao-Scott chi-square, design-based
## t test, domain covariances and contrasts), computed with R's survey package on the CSV samples
## of this folder (not run in CI). Run from the repository root:
##   Rscript tests/data/survey_api/r/design_tests.R > tests/data/survey_api/r/design_tests.Rout
## The printed output is committed beside this script (design_tests.Rout).
suppressMessages(library(survey))
cat("R", R.version$major, ".", R.version$minor, " survey ", format(packageVersion("survey")), "\n", sep = "")
options(digits = 10)
dir <- "tests/data/survey_api"
rd <- function(f) read.csv(file.path(dir, f), stringsAsFactors = TRUE,
                           colClasses = c(cds = "character"))
apiclus1 <- rd("apiclus1.csv"); apistrat <- rd("apistrat.csv"); apisrs <- rd("apisrs.csv")
apiclus2 <- rd("apiclus2.csv")
dclus1 <- svydesign(id = ~dnum, weights = ~pw, data = apiclus1, fpc = ~fpc)
dstrat <- svydesign(id = ~1, strata = ~stype, weights = ~pw, data = apistrat, fpc = ~fpc)
dsrs <- svydesign(id = ~1, weights = ~pw, data = apisrs, fpc = ~fpc)
dclus2 <- svydesign(id = ~dnum + snum, fpc = ~fpc1 + fpc2, data = apiclus2)
chisq <- function(label, x) {
  cat("###", label, "\n")
  print(c(statistic = unname(x$statistic), x$parameter, p.value = x$p.value), digits = 10)
}
tt <- function(label, x) {
  cat("###", label, "\n")
  print(c(t = unname(x$statistic), df = unname(x$parameter), estimate = unname(x$estimate),
          p.value = x$p.value, ci = as.vector(x$conf.int)), digits = 10)
}
show <- function(label, x) { cat("###", label, "\n"); print(x, digits = 10) }
con <- function(label, x) {
  cat("###", label, "\n")
  print(cbind(estimate = coef(x), SE = SE(x)), digits = 10)
}

## two-way tables (svytable.Rd)
show("dclus1 svytable sch.wide stype", svytable(~sch.wide + stype, dclus1))
show("dclus1 svytable sch.wide stype Ntotal=183", svytable(~sch.wide + stype, dclus1, Ntotal = 183))
show("dclus1 svymean interaction", {m <- svymean(~interaction(sch.wide, stype), dclus1);
     cbind(estimate = coef(m), SE = SE(m))})

## Rao-Scott and Wald tests (svychisq.Rd)
for (s in c("F", "Chisq", "Wald", "adjWald")) {
  chisq(paste("dclus1 svychisq sch.wide stype", s), svychisq(~sch.wide + stype, dclus1, statistic = s))
  chisq(paste("dstrat svychisq sch.wide stype", s), svychisq(~sch.wide + stype, dstrat, statistic = s))
  chisq(paste("dclus1 svychisq comp.imp awards", s), svychisq(~comp.imp + awards, dclus1, statistic = s))
  chisq(paste("dclus2 svychisq stype awards", s), svychisq(~stype + awards, dclus2, statistic = s))
}
chisq("dsrs svychisq sch.wide stype F", svychisq(~sch.wide + stype, dsrs))
chisq("dsrs svychisq sch.wide stype Chisq", svychisq(~sch.wide + stype, dsrs, statistic = "Chisq"))
chisq("dclus1 subset stype!=H svychisq sch.wide awards F",
      svychisq(~sch.wide + awards, subset(dclus1, stype != "H")))
## The Pearson statistic of the table scaled to the sample size (what "Chisq" prints)
chisq("dclus1 chisq.test Ntotal=183",
      suppressWarnings(chisq.test(svytable(~sch.wide + stype, dclus1, Ntotal = 183), correct = FALSE)))

## design-based t tests (svyttest.Rd)
tt("dclus1 svyttest api00 sch.wide", svyttest(api00 ~ sch.wide, dclus1))
tt("dstrat svyttest api00 sch.wide", svyttest(api00 ~ sch.wide, dstrat))
tt("dclus2 svyttest enroll comp.imp", svyttest(enroll ~ comp.imp, dclus2))
tt("dclus1 svyttest I(api00-api99) one-sample", svyttest(I(api00 - api99) ~ 0, dclus1))
tt("dsrs svyttest api00 sch.wide", svyttest(api00 ~ sch.wide, dsrs))
tt("dclus1 subset stype!=H svyttest api00 awards", svyttest(api00 ~ awards, subset(dclus1, stype != "H")))

## domain estimates with their covariance, and contrasts (svyby.Rd, svycontrast.Rd)
a <- svyby(~api00, ~stype, dclus1, svymean, covmat = TRUE)
show("dclus1 svyby api00 stype covmat coef", coef(a))
show("dclus1 svyby api00 stype covmat vcov", vcov(a))
con("dclus1 svycontrast E-H", svycontrast(a, c(E = 1, H = -1)))
con("dclus1 svycontrast avg", svycontrast(a, c(1/3, 1/3, 1/3)))
con("dclus1 svycontrast list", svycontrast(a, list(avg = c(E = 1/3, H = 1/3, M = 1/3), EminusM = c(E = 1, M = -1))))
b <- svyby(~api00 + api99, ~stype, dstrat, svymean, covmat = TRUE)
show("dstrat svyby api00+api99 stype covmat coef", coef(b))
show("dstrat svyby api00+api99 stype covmat vcov", vcov(b))
con("dstrat svycontrast growth in E", svycontrast(b, c("E:api00" = 1, "E:api99" = -1)))
d <- svyby(~enroll, ~stype + sch.wide, dclus1, svytotal, covmat = TRUE)
show("dclus1 svyby total enroll stype+sch.wide covmat coef", coef(d))
show("dclus1 svyby total enroll stype+sch.wide covmat vcov", vcov(d))
con("dclus1 svycontrast sum of E totals", svycontrast(d, c("E.No" = 1, "E.Yes" = 1)))
m <- svymean(~api00 + api99, dclus1)
con("dclus1 svycontrast svymean api00-api99", svycontrast(m, c(api00 = 1, api99 = -1)))

## calibrated designs: the variances use the calibration residuals
pop.types <- data.frame(stype = c("E", "H", "M"), Freq = c(4421, 755, 1018))
dclus1p <- postStratify(dclus1, ~stype, pop.types)
chisq("dclus1p svychisq sch.wide awards F", svychisq(~sch.wide + awards, dclus1p))
chisq("dclus1p svychisq sch.wide stype F", svychisq(~sch.wide + stype, dclus1p))
tt("dclus1p svyttest api00 sch.wide", svyttest(api00 ~ sch.wide, dclus1p))
gclus1 <- calibrate(dclus1, ~api99, c(6194, 3914069))
chisq("gclus1 svychisq sch.wide awards F", svychisq(~sch.wide + awards, gclus1))
## (svyby(~api00, ~awards, gclus1, svymean, covmat = TRUE) stops with an error in survey 4.1.1:
## "number of items to replace is not a multiple of replacement length")
